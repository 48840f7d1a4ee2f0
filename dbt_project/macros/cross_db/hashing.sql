{#- Lowercase hex SHA-256 of a UTF-8 string (NULL stays NULL). -#}
{% macro sha256_hex(expression) -%}
  {{ return(adapter.dispatch('sha256_hex', 'capi_offline_events')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
  lower(sha2({{ expression }}, 256))
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
  sha256({{ expression }})
{%- endmacro %}

{% macro bigquery__sha256_hex(expression) -%}
  to_hex(sha256({{ expression }}))
{%- endmacro %}
