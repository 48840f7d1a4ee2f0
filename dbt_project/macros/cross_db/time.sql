{#- Whole unix seconds (UTC) of a UTC timestamp, truncated. -#}
{% macro epoch_seconds(timestamp) -%}
  {{ return(adapter.dispatch('epoch_seconds', 'capi_offline_events')(timestamp)) }}
{%- endmacro %}

{% macro default__epoch_seconds(timestamp) -%}
  cast(floor(extract(epoch from {{ timestamp }})) as bigint)
{%- endmacro %}

{% macro duckdb__epoch_seconds(timestamp) -%}
  cast(epoch_us({{ timestamp }}) // 1000000 as bigint)
{%- endmacro %}

{#- unix_seconds(timestamp_trunc(...)): BigQuery's unix_seconds truncates already, the
    emulator's rounds half to even; truncating first is right on both (negative times too). -#}
{% macro bigquery__epoch_seconds(timestamp) -%}
  unix_seconds(timestamp_trunc({{ timestamp }}, second))
{%- endmacro %}


{#- A UTC timestamp literal from 'YYYY-MM-DD HH:MM:SS'. -#}
{% macro timestamp_literal(text) -%}
  {{ return(adapter.dispatch('timestamp_literal', 'capi_offline_events')(text)) }}
{%- endmacro %}

{% macro default__timestamp_literal(text) -%}
  cast('{{ text }}' as timestamp)
{%- endmacro %}

{% macro bigquery__timestamp_literal(text) -%}
  timestamp('{{ text }}', 'UTC')
{%- endmacro %}


{#- The current moment as a UTC timestamp comparable with order_datetime. -#}
{% macro current_timestamp_utc() -%}
  {{ return(adapter.dispatch('current_timestamp_utc', 'capi_offline_events')()) }}
{%- endmacro %}

{% macro default__current_timestamp_utc() -%}
  current_timestamp
{%- endmacro %}

{% macro duckdb__current_timestamp_utc() -%}
  (current_timestamp at time zone 'UTC')
{%- endmacro %}

{% macro bigquery__current_timestamp_utc() -%}
  current_timestamp()
{%- endmacro %}


{#- A timestamp minus a whole number of days. -#}
{% macro timestamp_minus_days(timestamp, days) -%}
  {{ return(adapter.dispatch('timestamp_minus_days', 'capi_offline_events')(timestamp, days)) }}
{%- endmacro %}

{% macro default__timestamp_minus_days(timestamp, days) -%}
  ({{ timestamp }} - interval '{{ days | int }} days')
{%- endmacro %}

{% macro duckdb__timestamp_minus_days(timestamp, days) -%}
  ({{ timestamp }} - to_days({{ days | int }}))
{%- endmacro %}

{% macro bigquery__timestamp_minus_days(timestamp, days) -%}
  timestamp_sub({{ timestamp }}, interval {{ days | int }} day)
{%- endmacro %}


{#- A date as 'YYYYMMDD'. -#}
{% macro format_date_yyyymmdd(date) -%}
  {{ return(adapter.dispatch('format_date_yyyymmdd', 'capi_offline_events')(date)) }}
{%- endmacro %}

{% macro default__format_date_yyyymmdd(date) -%}
  to_char({{ date }}, 'YYYYMMDD')
{%- endmacro %}

{% macro duckdb__format_date_yyyymmdd(date) -%}
  strftime({{ date }}, '%Y%m%d')
{%- endmacro %}

{% macro bigquery__format_date_yyyymmdd(date) -%}
  format_date('%Y%m%d', {{ date }})
{%- endmacro %}


{#- The UTC calendar date of whole unix seconds. -#}
{% macro utc_date_of_epoch_seconds(seconds) -%}
  {{ return(adapter.dispatch('utc_date_of_epoch_seconds', 'capi_offline_events')(seconds)) }}
{%- endmacro %}

{#- Plain TIMESTAMP arithmetic: no session time zone is involved. -#}
{% macro default__utc_date_of_epoch_seconds(seconds) -%}
  cast(make_timestamp(cast({{ seconds }} as bigint) * 1000000) as date)
{%- endmacro %}

{% macro bigquery__utc_date_of_epoch_seconds(seconds) -%}
  date(timestamp_seconds({{ seconds }}), 'UTC')
{%- endmacro %}
