-- The `contents` list of each order: one entry per product_id (ordered by id) with
-- the summed quantity and item_price = revenue / quantity, then the product fields the vars
-- name (macros/orders/order_aggregates.sql,
-- which offline_events also runs on its incremental window).
with lines as (

    select * from {{ ref('int_order_lines__eligible') }}

),

contents as (

    {{ order_contents('lines') }}

)

select * from contents
