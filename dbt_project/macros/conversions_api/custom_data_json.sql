{#-
  An event's Conversions API `custom_data` object as JSON text (column custom_data_json; the
  sync does not read it, docs/warehouse.md): exactly the bytes the tests' oracle writes
  (tests/support/events_oracle.py build_events + orjson): keys currency, value, contents, then order_id,
  num_items, delivery_category and store_id when not NULL, no whitespace; in each contents
  item the product fields (title, brand, category) left out when NULL.

  Two steps, so the text is computed once per row:
    custom_data_text(...)            the JSON text, NULL when currency, value or contents is
                                     missing (the sync skips those rows with a named reason);
    custom_data_json_as_sent(text)   the text, or NULL where the warehouse writes a value
                                     differently from orjson.
  DuckDB writes the text. Where DuckDB's to_json and orjson differ (checked over every
  double magnitude and control character): doubles in [1e-6, 1e-5) and >= 1e16, infinities
  and NaN, and control characters (\u001F against \u001f); those rows are NULL.
  BigQuery: NULL (its TO_JSON_STRING writes doubles its own way).
-#}
{% macro custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  {{ return(adapter.dispatch('custom_data_text', 'capi_offline_events')(currency, value, contents, order_id, num_items, delivery_category, store_id)) }}
{%- endmacro %}

{% macro default__custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  cast(null as {{ type_text() }})
{%- endmacro %}

{% macro duckdb__custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  case when coalesce({{ currency }}, '') <> '' and {{ value }} is not null and len({{ contents }}) > 0 then
    concat('{"currency":', to_json({{ currency }}),
           ',"value":', to_json(cast({{ value }} as double)),
           ',"contents":', {{ contents_json(contents) }},
           case when {{ order_id }} is not null then concat(',"order_id":', to_json({{ order_id }})) end,
           case when {{ num_items }} is not null then concat(',"num_items":', {{ num_items }}) end,
           case when {{ delivery_category }} is not null then concat(',"delivery_category":', to_json({{ delivery_category }})) end,
           case when {{ store_id }} is not null then concat(',"store_id":', to_json({{ store_id }})) end,
           '}')
  end
{%- endmacro %}

{#- DuckDB: the contents list as JSON, a product field's NULL left out (a string value holds
    no unescaped quote, so `,"title":null` is always a member). -#}
{% macro contents_json(contents) -%}
  {%- set optional = product_fields() | map(attribute='field') | list -%}
  {%- if optional -%}
  regexp_replace(to_json({{ contents }}), ',"({{ optional | join('|') }})":null', '', 'g')
  {%- else -%}
  to_json({{ contents }})
  {%- endif -%}
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
