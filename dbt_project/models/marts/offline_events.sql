{%- if var('offline_events_materialization', 'view') not in ['view', 'table'] -%}
    {{ exceptions.raise_compiler_error("var offline_events_materialization must be 'view' or 'table', got '" ~ var('offline_events_materialization') ~ "'") }}
{%- endif -%}
-- One Conversions API event per eligible order: an order with at least one eligible
-- line and a customer with a valid email or phone (the Amperity rules). An order whose
-- eligible lines are worth nothing stays in the view (the value > 0 test warns; the
-- sync skips it as non_positive_value). The sync reads this view; its cursor is event_time.
-- Customers the consent and opt-out rules exclude (int_customers__consent) are left out;
-- without a rule configured the model is not joined.
-- depends_on: {{ ref('int_customers__consent') }}
with orders as (

    select * from {{ ref('int_orders__summarized') }}

),

contents as (

    select * from {{ ref('int_orders__contents') }}

),

customers as (

    select * from {{ ref('int_customers__hashed') }}

),

events as (

    select
        {{ sha256_hex(sql_string(var('event_name')) ~ " || ':' || orders.order_id") }} as event_id,
        cast({{ sql_string(var('event_name')) }} as {{ type_text() }}) as event_name,
        orders.event_time,
        cast({{ sql_string(var('action_source')) }} as {{ type_text() }}) as action_source,
        orders.order_id,
        orders.currency,
        orders.value,
        orders.num_items,
        contents.contents,
        orders.store_id,
        customers.em,
        customers.ph,
        customers.fn,
        customers.ln,
        customers.db,
        customers.ge,
        customers.ct,
        customers.st,
        customers.zp,
        customers.country,
        customers.external_id,
        {{ custom_data_text('orders.currency', 'orders.value', 'contents.contents', 'orders.order_id', 'orders.num_items') }} as custom_data_text
    from orders
    inner join contents
        on contents.order_id = orders.order_id
    inner join customers
        on customers.amperity_id = orders.amperity_id
    {%- if consent_rules() %}
    inner join {{ ref('int_customers__consent') }} as consent
        on consent.amperity_id = orders.amperity_id
        and consent.exclusion_reason is null
    {%- endif %}
    where customers.em is not null or customers.ph is not null

),

final as (

    select
        event_id,
        event_name,
        event_time,
        action_source,
        order_id,
        currency,
        value,
        num_items,
        contents,
        store_id,
        em,
        ph,
        fn,
        ln,
        db,
        ge,
        ct,
        st,
        zp,
        country,
        external_id,
        {{ custom_data_json_as_sent('custom_data_text') }} as custom_data_json,
        {{ user_data_text() }} as user_data_json
    from events

)

select * from final
{%- if var('offline_events_materialization', 'view') == 'table' %}
-- stored in cursor order, so a sync's range read on event_time skips older row groups
order by event_time, event_id
{%- endif %}
