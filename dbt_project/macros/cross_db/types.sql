{#- Type names for casts, per adapter. -#}
{% macro type_bigint() -%}
  {{ return(adapter.dispatch('type_bigint', 'capi_offline_events')()) }}
{%- endmacro %}
{% macro default__type_bigint() -%} bigint {%- endmacro %}
{% macro bigquery__type_bigint() -%} int64 {%- endmacro %}

{% macro type_double() -%}
  {{ return(adapter.dispatch('type_double', 'capi_offline_events')()) }}
{%- endmacro %}
{% macro default__type_double() -%} double {%- endmacro %}
{% macro bigquery__type_double() -%} float64 {%- endmacro %}

{% macro type_money() -%}
  {{ return(adapter.dispatch('type_money', 'capi_offline_events')()) }}
{%- endmacro %}
{% macro default__type_money() -%} decimal(18, 2) {%- endmacro %}
{% macro bigquery__type_money() -%} numeric {%- endmacro %}

{% macro type_text() -%}
  {{ return(adapter.dispatch('type_text', 'capi_offline_events')()) }}
{%- endmacro %}
{% macro default__type_text() -%} varchar {%- endmacro %}
{% macro bigquery__type_text() -%} string {%- endmacro %}
