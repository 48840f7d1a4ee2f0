{#- Unicode normalization form C (composed), so 'e' + U+0301 and 'é' hash alike. -#}
{% macro nfc(expression) -%}
  {{ return(adapter.dispatch('nfc', 'capi_offline_events')(expression)) }}
{%- endmacro %}

{% macro default__nfc(expression) -%}
  normalize({{ expression }}, nfc)
{%- endmacro %}

{% macro duckdb__nfc(expression) -%}
  nfc_normalize({{ expression }})
{%- endmacro %}

{% macro bigquery__nfc(expression) -%}
  normalize({{ expression }}, NFC)
{%- endmacro %}
