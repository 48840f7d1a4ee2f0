{#-
  Meta's Limited Data Use per customer, as the vars configure it (docs/warehouse.md, Limited
  Data Use): it applies to a customer whose limited_data_use_column value is one of
  limited_data_use_values (compared trimmed and case-insensitively on the column cast to
  text), or whose effective country is US and whose state is in limited_data_use_states
  (two-letter codes). Returns {column, listed, states}; none when both vars are unset (the
  warehouse decides no LDU; the sync-wide destination.data_processing_options may).
-#}
{% macro limited_data_use() -%}
  {%- set column = var('limited_data_use_column', none) -%}
  {%- set states = var('limited_data_use_states', []) -%}
  {%- if states is string -%}
    {{ exceptions.raise_compiler_error("var limited_data_use_states must be a list of two-letter US state codes, got '" ~ states ~ "'") }}
  {%- endif -%}
  {%- for state in states -%}
    {%- if not (state is string and state | trim | length == 2 and (state | trim).isalpha()) -%}
      {{ exceptions.raise_compiler_error("var limited_data_use_states: '" ~ state ~ "' is not a two-letter US state code") }}
    {%- endif -%}
  {%- endfor -%}
  {%- if not column and not states -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set listed = var('limited_data_use_values', ['true', '1', 'yes', 'y']) -%}
  {%- if column and (listed is string or listed | length == 0) -%}
    {{ exceptions.raise_compiler_error("var limited_data_use_values must be a non-empty list of values, got " ~ listed) }}
  {%- endif -%}
  {{ return({'column': column, 'listed': listed, 'states': states | map('trim') | map('lower') | list}) }}
{%- endmacro %}

{#- ['LDU'] when `condition` holds, else an empty list (an ARRAY cannot be NULL on BigQuery). -#}
{% macro ldu_options(condition) -%}
  {{ return(adapter.dispatch('ldu_options', 'capi_offline_events')(condition)) }}
{%- endmacro %}

{% macro default__ldu_options(condition) -%}
  case when {{ condition }} then ['LDU'] else cast([] as {{ type_text() }}[]) end
{%- endmacro %}

{% macro bigquery__ldu_options(condition) -%}
  if({{ condition }}, ['LDU'], cast([] as array<string>))
{%- endmacro %}
