{#-
  An event's Conversions API `user_data` object as JSON text (column user_data_json, which
  the sync sends as written, docs/warehouse.md): exactly the bytes the tests' oracle writes
  (tests/support/events_oracle.py build_events + orjson) for hashed identifiers: keys in the
  order em, ph, fn, ln, db, ge, ct, st, zp, country, external_id, NULL ones left out, em, ph
  and external_id as one-element arrays, no whitespace. NULL when the customer has no
  identifier. The values are written as they are, without JSON escaping: they are hashes
  (the columns' matches_pattern tests; the sync checks every value is 64-hex before sending),
  or with var external_id_format as_given an external_id the sync accepts only without `"`,
  `\` or control characters.
  The same bytes on DuckDB and BigQuery.
-#}
{% macro user_data_text(relation_alias=none) -%}
  {{ return(adapter.dispatch('user_data_text', 'capi_offline_events')(relation_alias)) }}
{%- endmacro %}

{% macro default__user_data_text(relation_alias) -%}
  {{ exceptions.raise_compiler_error("user_data_text: no version for adapter " ~ target.type ~ " (there are duckdb__ and bigquery__)") }}
{%- endmacro %}

{#- The entries of the object, in the contract's order: `"em":["<hash>"]` or `"fn":"<hash>"`,
    NULL for a NULL column, and the condition that the customer has an identifier. -#}
{% macro user_data_entries(relation_alias) -%}
  {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
  {%- set keys = ['em', 'ph', 'fn', 'ln', 'db', 'ge', 'ct', 'st', 'zp', 'country', 'external_id'] -%}
  {%- set array_keys = ['em', 'ph', 'external_id'] -%}
  {%- set entries = [] -%}
  {%- for key in keys -%}
    {%- set open, close = ('["', '"]') if key in array_keys else ('"', '"') -%}
    {%- do entries.append("case when " ~ prefix ~ key ~ " is not null then concat('\"" ~ key ~ "\":" ~ open ~ "', "
                          ~ prefix ~ key ~ ", '" ~ close ~ "') end") -%}
  {%- endfor -%}
  {{ return({'entries': entries, 'identified': "coalesce(" ~ prefix ~ (keys | join(', ' ~ prefix)) ~ ") is not null"}) }}
{%- endmacro %}

{% macro duckdb__user_data_text(relation_alias) -%}
  {%- set parts = user_data_entries(relation_alias) -%}
  case when {{ parts.identified }} then concat('{', concat_ws(',', {{ parts.entries | join(', ') }}), '}') end
{%- endmacro %}

{#- BigQuery: ARRAY_TO_STRING leaves the NULL entries out (and their commas). -#}
{% macro bigquery__user_data_text(relation_alias) -%}
  {%- set parts = user_data_entries(relation_alias) -%}
  case when {{ parts.identified }} then concat('{', array_to_string([{{ parts.entries | join(', ') }}], ','), '}') end
{%- endmacro %}
