-- One row per order with at least one eligible line: when, how much, how many, in
-- which currency, at which store, for which customer (macros/orders/order_aggregates.sql,
-- which offline_events also runs on its incremental window).
with lines as (

    select * from {{ ref('int_order_lines__eligible') }}

),

summarized as (

    {{ summarize_order_lines('lines') }}

)

select * from summarized
