-- How many customers the consent and opt-out rules exclude, and why: per exclusion reason,
-- the customers excluded and the events withheld (their orders that offline_events would
-- otherwise hold: eligible, in the lookback window, with an email or phone). No rows when
-- no rule is configured or nobody is excluded.
with consent as (

    select * from {{ ref('int_customers__consent') }}
    where exclusion_reason is not null

),

orders as (

    select * from {{ ref('int_orders__summarized') }}

),

contents as (

    select * from {{ ref('int_orders__contents') }}

),

customers as (

    select * from {{ ref('int_customers__hashed') }}
    where em is not null or ph is not null

),

withheld as (

    select orders.order_id, orders.amperity_id
    from orders
    inner join contents
        on contents.order_id = orders.order_id
    inner join customers
        on customers.amperity_id = orders.amperity_id

),

per_customer as (

    select
        consent.amperity_id,
        consent.exclusion_reason,
        count(withheld.order_id) as events
    from consent
    left join withheld
        on withheld.amperity_id = consent.amperity_id
    group by consent.amperity_id, consent.exclusion_reason

),

final as (

    select
        exclusion_reason,
        cast(count(*) as {{ type_bigint() }}) as customers_excluded,
        cast(sum(events) as {{ type_bigint() }}) as events_withheld
    from per_customer
    group by exclusion_reason

)

select * from final
