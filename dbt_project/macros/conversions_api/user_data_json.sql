{#-
  An event's Conversions API `user_data` object as JSON text, written in the warehouse so a
  sync reading the stored table does not rebuild it from the eleven hashed columns on every
  read: exactly the bytes the sync's reference path writes (sync/events.py build_events +
  orjson) for hashed identifiers: keys in the order em, ph, fn, ln, db, ge, ct, st, zp,
  country, external_id, NULL ones left out, em, ph and external_id as one-element arrays,
  no whitespace. NULL when the customer has no identifier.

  The values are written as they are, without JSON escaping: they are hashes (the columns'
  matches_pattern tests), and the sync checks every value of this column before it sends
  it (sync/sources/user_data_check.py): a value that is not 64 lowercase hex characters
  makes it read those rows from the hashed columns instead, where they are skipped as
  invalid_hash. Raw personal data cannot reach a request through this column.

  BigQuery: NULL; the sync builds every event from the columns there.
-#}
{% macro user_data_text(relation_alias=none) -%}
  {{ return(adapter.dispatch('user_data_text', 'capi_offline_events')(relation_alias)) }}
{%- endmacro %}

{% macro default__user_data_text(relation_alias) -%}
  cast(null as {{ type_text() }})
{%- endmacro %}

{% macro duckdb__user_data_text(relation_alias) -%}
  {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
  {%- set keys = ['em', 'ph', 'fn', 'ln', 'db', 'ge', 'ct', 'st', 'zp', 'country', 'external_id'] -%}
  {%- set array_keys = ['em', 'ph', 'external_id'] -%}
  case when coalesce({% for key in keys %}{{ prefix ~ key }}{{ ', ' if not loop.last }}{% endfor %}) is not null then
    concat('{', concat_ws(','
    {%- for key in keys %},
      case when {{ prefix ~ key }} is not null then
        {%- if key in array_keys %} concat('"{{ key }}":["', {{ prefix ~ key }}, '"]')
        {%- else %} concat('"{{ key }}":"', {{ prefix ~ key }}, '"')
        {%- endif %} end
    {%- endfor %}), '}')
  end
{%- endmacro %}
