-- Order lines that may be reported: a positive quantity, not a return, not a
-- cancellation, inside the channel/brand filters, and inside the lookback window
-- (lookback_days before as_of, not after as_of).
{%- set channels = list_var('purchase_channels') %}
{%- set brands = list_var('purchase_brands') %}

with lines as (

    select * from {{ ref('stg_amperity__unified_itemized_transactions') }}

),

eligible as (

    select
        order_id,
        amperity_id,
        product_id,
        cast(item_quantity as {{ type_bigint() }}) as item_quantity,
        item_revenue,
        order_datetime,
        {{ normalize_currency('currency', var('default_currency')) }} as currency,
        store_id
        {%- for product in product_fields() %},
        product_{{ product.field }}
        {%- endfor %}
    from lines
    where item_quantity > 0
      and not coalesce(is_return, false)
      and not coalesce(is_cancellation, false)
      and order_datetime > {{ timestamp_minus_days(as_of_timestamp(), var('lookback_days')) }}
      and order_datetime <= {{ as_of_timestamp() }}
      {%- if channels %}
      and lower(trim(purchase_channel)) in ({% for c in channels %}{{ sql_string(c) }}{{ ", " if not loop.last }}{% endfor %})
      {%- endif %}
      {%- if brands %}
      and lower(trim(purchase_brand)) in ({% for b in brands %}{{ sql_string(b) }}{{ ", " if not loop.last }}{% endfor %})
      {%- endif %}

)

select * from eligible
