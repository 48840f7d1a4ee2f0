{#-
  An event's Conversions API `user_data` object as JSON text (column user_data_json; the
  sync does not read it, docs/warehouse.md): exactly the bytes the tests' oracle writes
  (tests/support/events_oracle.py build_events + orjson) for hashed identifiers: keys in the
  order em, ph, fn, ln, db, ge, ct, st, zp, country, external_id, NULL ones left out, em, ph
  and external_id as one-element arrays, no whitespace. NULL when the customer has no
  identifier. The values are written as they are, without JSON escaping: they are hashes
  (the columns' matches_pattern tests).

  BigQuery: NULL.
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
