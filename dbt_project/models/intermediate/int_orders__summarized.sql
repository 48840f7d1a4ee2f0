-- One row per order with at least one eligible line: when, how much, how many, in
-- which currency, at which store, for which customer.
with lines as (

    select * from {{ ref('int_order_lines__eligible') }}

),

summarized as (

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
    from lines
    group by order_id

)

select * from summarized
