{#-
  An event's Conversions API `custom_data` object as JSON text (column custom_data_json, which
  the sync sends as written, docs/warehouse.md): keys currency, value, contents, then
  order_id, num_items, delivery_category and store_id when not NULL, no whitespace; in each
  contents item the product fields (title, brand, category) left out when NULL. NULL when
  currency, value or contents is missing (the sync skips those rows with a named reason).

  Each value is written by the warehouse's own JSON writer, `value` and `item_price` as
  doubles (a whole one as `12.0`): the bytes of the tests' oracle (tests/support/events_oracle.py
  build_events + orjson) on ordinary values, the same on DuckDB and BigQuery. Where a writer
  differs from orjson it is still valid JSON of the same number or text (DuckDB: `5e-06`,
  `1e+16`, `\u001F`; a non-finite double, which JSON cannot hold, the sync sends as null).
-#}
{% macro custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  {{ return(adapter.dispatch('custom_data_text', 'capi_offline_events')(currency, value, contents, order_id, num_items, delivery_category, store_id)) }}
{%- endmacro %}

{% macro default__custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  {{ exceptions.raise_compiler_error("custom_data_text: no version for adapter " ~ target.type ~ " (there are duckdb__ and bigquery__)") }}
{%- endmacro %}

{% macro duckdb__custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  case when coalesce({{ currency }}, '') <> '' and {{ value }} is not null and len({{ contents }}) > 0 then
    concat('{"currency":', to_json({{ currency }}),
           ',"value":', to_json(cast({{ value }} as double)),
           ',"contents":', {{ contents_json(contents) }},
           case when {{ order_id }} is not null then concat(',"order_id":', to_json({{ order_id }})) end,
           case when {{ num_items }} is not null then concat(',"num_items":', to_json({{ num_items }})) end,
           case when {{ delivery_category }} is not null then concat(',"delivery_category":', to_json({{ delivery_category }})) end,
           case when {{ store_id }} is not null then concat(',"store_id":', to_json({{ store_id }})) end,
           '}')
  end
{%- endmacro %}

{#- BigQuery: CONCAT is NULL when any part is, so an absent key is ''; TO_JSON_STRING writes a
    whole FLOAT64 without `.0`, which the last step adds to `value` and `item_price` (a
    string holds no unescaped quote, so `"value":` is always a key). -#}
{% macro bigquery__custom_data_text(currency, value, contents, order_id, num_items, delivery_category, store_id) -%}
  case when coalesce({{ currency }}, '') <> '' and {{ value }} is not null and array_length({{ contents }}) > 0 then
    regexp_replace(
      concat('{"currency":', {{ bigquery_json_text(currency) }},
             ',"value":', {{ bigquery_json_text('cast(' ~ value ~ ' as float64)') }},
             ',"contents":', {{ contents_json(contents) }},
             case when {{ order_id }} is not null then concat(',"order_id":', {{ bigquery_json_text(order_id) }}) else '' end,
             case when {{ num_items }} is not null then concat(',"num_items":', {{ bigquery_json_text(num_items) }}) else '' end,
             case when {{ delivery_category }} is not null then concat(',"delivery_category":', {{ bigquery_json_text(delivery_category) }}) else '' end,
             case when {{ store_id }} is not null then concat(',"store_id":', {{ bigquery_json_text(store_id) }}) else '' end,
             '}'),
      r'("(?:item_price|value)":-?[0-9]+)([,}])', r'\1.0\2')
  end
{%- endmacro %}

{#- A value's JSON text on BigQuery, written as a STRUCT member and the braces cut off (the
    emulator refuses TO_JSON_STRING of a lone STRING; docs/bigquery.md). -#}
{% macro bigquery_json_text(value) -%}
  regexp_extract(to_json_string(struct({{ value }} as v)), r'^{"v":(.*)}$')
{%- endmacro %}

{#- The contents list as JSON, a product field's NULL left out (a string value holds no
    unescaped quote, so `,"title":null` is always a member). -#}
{% macro contents_json(contents) -%}
  {{ return(adapter.dispatch('contents_json', 'capi_offline_events')(contents)) }}
{%- endmacro %}

{% macro default__contents_json(contents) -%}
  {{ contents_without_null_fields('to_json(' ~ contents ~ ')') }}
{%- endmacro %}

{% macro bigquery__contents_json(contents) -%}
  {{ contents_without_null_fields(bigquery_json_text(contents)) }}
{%- endmacro %}

{% macro contents_without_null_fields(text) -%}
  {%- set optional = product_fields() | map(attribute='field') | list -%}
  {%- if optional -%}
  {{ regexp_replace_all(text, regex_literal(',"(' ~ (optional | join('|')) ~ ')":null'), "''") }}
  {%- else -%}
  {{ text }}
  {%- endif -%}
{%- endmacro %}
