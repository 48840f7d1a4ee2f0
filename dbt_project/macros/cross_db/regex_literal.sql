{#-
  A regular expression as a SQL string literal. BigQuery string literals treat the
  backslash as an escape, so it gets a raw string r'...'; DuckDB literals are raw already.
-#}
{% macro regex_literal(pattern) -%}
  {{ return(adapter.dispatch('regex_literal', 'capi_offline_events')(pattern)) }}
{%- endmacro %}

{% macro default__regex_literal(pattern) -%}
  '{{ pattern | replace("'", "''") }}'
{%- endmacro %}

{% macro bigquery__regex_literal(pattern) -%}
  {%- if "'" in pattern -%}
    {{ exceptions.raise_compiler_error("regex_literal: a single quote is not supported in " ~ pattern) }}
  {%- endif -%}
  r'{{ pattern }}'
{%- endmacro %}
