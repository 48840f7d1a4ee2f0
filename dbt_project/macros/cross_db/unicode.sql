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

{#- The local BigQuery emulator (crucible) has no NORMALIZE in any form; it passes unknown
    functions to DuckDB, whose nfc_normalize is the same function. Var bigquery_emulator
    (default false) is set only by the tests; production SQL is normalize(x, NFC). -#}
{% macro bigquery__nfc(expression) -%}
  {%- if var('bigquery_emulator', false) -%}
  nfc_normalize({{ expression }})
  {%- else -%}
  normalize({{ expression }}, NFC)
  {%- endif -%}
{%- endmacro %}
