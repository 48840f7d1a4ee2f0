{#-
  An event's Conversions API `custom_data` object as JSON text, written in the warehouse so
  the sync only joins bytes: exactly the bytes the sync's reference path writes
  (sync/events.py build_events + orjson): keys currency, value, contents, then order_id and
  num_items when not NULL, no whitespace.

  Two steps, so the text is computed once per row:
    custom_data_text(...)            the JSON text, NULL when currency, value or contents is
                                     missing (the sync skips those rows with a named reason);
    custom_data_json_as_sent(text)   the text, or NULL where the warehouse writes a value
                                     differently from orjson (the sync then builds that row's
                                     event itself, so the bytes never depend on the warehouse).
  DuckDB writes the text. Where DuckDB's to_json and orjson differ (checked over every
  double magnitude and control character): doubles in [1e-6, 1e-5) and >= 1e16, infinities
  and NaN, and control characters (\u001F against \u001f); those rows are NULL.
  BigQuery: NULL (its TO_JSON_STRING writes doubles its own way); the sync builds every
  event from the columns there.
-#}
{% macro custom_data_text(currency, value, contents, order_id, num_items) -%}
  {{ return(adapter.dispatch('custom_data_text', 'capi_offline_events')(currency, value, contents, order_id, num_items)) }}
{%- endmacro %}

{% macro default__custom_data_text(currency, value, contents, order_id, num_items) -%}
  cast(null as {{ type_text() }})
{%- endmacro %}

{% macro duckdb__custom_data_text(currency, value, contents, order_id, num_items) -%}
  case when coalesce({{ currency }}, '') <> '' and {{ value }} is not null and len({{ contents }}) > 0 then
    concat('{"currency":', to_json({{ currency }}),
           ',"value":', to_json(cast({{ value }} as double)),
           ',"contents":', to_json({{ contents }}),
           case when {{ order_id }} is not null then concat(',"order_id":', to_json({{ order_id }})) end,
           case when {{ num_items }} is not null then concat(',"num_items":', {{ num_items }}) end,
           '}')
  end
{%- endmacro %}

{% macro custom_data_json_as_sent(text) -%}
  {{ return(adapter.dispatch('custom_data_json_as_sent', 'capi_offline_events')(text)) }}
{%- endmacro %}

{% macro default__custom_data_json_as_sent(text) -%}
  {{ text }}
{%- endmacro %}

{#- A number right after a key's colon that DuckDB writes differently from orjson:
    Infinity/NaN, 17+ integer digits (>= 1e16), 0.00000... (1e-6 <= x < 1e-5), or an exponent
    without a sign (DuckDB's 1e22 against orjson's 1e+22); or a \u escape (control
    characters). A false positive only costs the sync one event built in Python. -#}
{% macro duckdb__custom_data_json_as_sent(text) -%}
  case when strpos({{ text }}, '\u') > 0
         or regexp_matches({{ text }}, ':-?([IN]|[0-9]{17}|0\.00000|[0-9.]+e[0-9])') then null
       else {{ text }} end
{%- endmacro %}
