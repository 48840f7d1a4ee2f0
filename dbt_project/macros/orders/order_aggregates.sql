{#- One row per order from eligible order lines (a CTE or relation named `lines`): when,
    how much, how many, in which currency, at which store, for which customer. Shared by
    int_orders__summarized and offline_events (which runs it on its incremental window). -#}
{% macro summarize_order_lines(lines) -%}
    select
        order_id,
        max(amperity_id) as amperity_id,
        {{ epoch_seconds('min(order_datetime)') }} as event_time,
        -- one currency per order; NULL when a line's currency is invalid or lines disagree
        case
            when count(currency) = count(*) and count(distinct currency) = 1 then max(currency)
        end as currency,
        cast(sum(item_revenue) as {{ type_money() }}) as value,
        cast(sum(item_quantity) as {{ type_bigint() }}) as num_items,
        max(store_id) as store_id
    from {{ lines }}
    group by order_id
{%- endmacro %}


{#- The `contents` list of each order from eligible order lines: one entry per product_id
    (ordered by id) with the summed quantity and item_price = revenue / quantity; then title,
    brand and category (the greatest over the product's lines) when vars name their columns
    (macro product_fields). Shared by int_orders__contents and offline_events. -#}
{% macro order_contents(lines) -%}
    {%- set fields = [['id', 'product_id'], ['quantity', 'quantity'], ['item_price', 'item_price']] -%}
    {%- for product in product_fields() -%}
    {%- do fields.append([product.field, product.field]) -%}
    {%- endfor %}
    select
        order_id,
        {{ array_agg_structs(fields, 'product_id') }} as contents
    from (
        select
            order_id,
            product_id,
            cast(sum(item_quantity) as {{ type_bigint() }}) as quantity,
            cast(sum(item_revenue) as {{ type_double() }}) / sum(item_quantity) as item_price
            {%- for product in product_fields() %},
            max(product_{{ product.field }}) as {{ product.field }}
            {%- endfor %}
        from {{ lines }}
        group by order_id, product_id
    ) as products
    group by order_id
{%- endmacro %}
