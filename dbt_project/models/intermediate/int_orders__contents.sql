-- The `contents` list of each order: one entry per product_id (ordered by id) with
-- the summed quantity and item_price = revenue / quantity.
with lines as (

    select * from {{ ref('int_order_lines__eligible') }}

),

products as (

    select
        order_id,
        product_id,
        cast(sum(item_quantity) as {{ type_bigint() }}) as quantity,
        cast(sum(item_revenue) as {{ type_double() }}) / sum(item_quantity) as item_price
    from lines
    group by order_id, product_id

),

contents as (

    select
        order_id,
        {{ array_agg_structs([
            ['id', 'product_id'],
            ['quantity', 'quantity'],
            ['item_price', 'item_price'],
        ], 'product_id') }} as contents
    from products
    group by order_id

)

select * from contents
