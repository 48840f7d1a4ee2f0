{%- set materialization = var('offline_events_materialization', 'incremental') -%}
{%- if materialization not in ['incremental', 'table', 'view'] -%}
    {{ exceptions.raise_compiler_error("var offline_events_materialization must be 'incremental', 'table' or 'view', got '" ~ materialization ~ "'") }}
{%- endif -%}
{%- set on_bigquery = target.type == 'bigquery' -%}
{{ config(
    materialized=materialization,
    unique_key='event_id',
    on_schema_change='fail',
    incremental_strategy=('merge' if on_bigquery else 'replace_window'),
    sort_by=['event_time', 'event_id'],
    incremental_predicates=(
        ['DBT_INTERNAL_DEST.event_time > ' ~ epoch_seconds(timestamp_minus_days(as_of_timestamp(), var('lookback_days')))]
        if on_bigquery else offline_events_replaced_rows()),
    pre_hook=(["{{ offline_events_clear_window() }}"] if on_bigquery and materialization == 'incremental' else []),
    partition_by=({'field': 'event_time', 'data_type': 'int64',
                   'range': {'start': 1577836800, 'end': 2208988800, 'interval': 86400}}
                  if on_bigquery and materialization != 'view' else none),
    cluster_by=(['event_time', 'event_id'] if on_bigquery and materialization != 'view' else none),
) }}
{%- set window_start = offline_events_window_start() if materialization == 'incremental' else none %}
{#- Meta's delivery_category for a purchase made in the store -#}
{%- set delivery_category = "cast(" ~ ("'in_store'" if var('action_source') == 'physical_store' else 'null') ~ " as " ~ type_text() ~ ")" %}
-- One Conversions API event per eligible order: an order with at least one eligible
-- line and a customer with a valid email or phone (the Amperity rules). An order whose
-- eligible lines are worth nothing stays in the relation (the value > 0 test warns; the
-- sync skips it as non_positive_value). The sync reads it; its cursor is event_time.
--
-- Incremental (the default): a build recomputes only the orders whose lines have an
-- order_datetime from window_start on (the newest event_time built minus
-- incremental_lookback_days), joined to the customers as they are now; those rows, and the
-- rows that left the eligibility window, are replaced (macros/incremental/). A full build
-- (first run, --full-refresh) computes every order.
-- Customers the consent and opt-out rules exclude (int_customers__consent) are left out;
-- without a rule configured the model is not joined.
-- Limited Data Use per customer (int_customers__limited_data_use) when its vars are set.
-- depends_on: {{ ref('int_customers__consent') }}
-- depends_on: {{ ref('int_customers__limited_data_use') }}
with lines as (

    select * from {{ ref('int_order_lines__eligible') }}
    {%- if window_start is not none %}
    where order_datetime >= {{ epoch_to_timestamp_literal(window_start) }}
    {%- endif %}

),

orders as (

    {{ summarize_order_lines('lines') }}

),

contents as (

    {{ order_contents('lines') }}

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
        {{ delivery_category }} as delivery_category,
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
        {%- if limited_data_use() %}
        ldu.data_processing_options,
        ldu.data_processing_options_country,
        ldu.data_processing_options_state,
        {%- else %}
        {{ ldu_options('false') }} as data_processing_options,
        cast(null as {{ type_bigint() }}) as data_processing_options_country,
        cast(null as {{ type_bigint() }}) as data_processing_options_state,
        {%- endif %}
        {{ custom_data_text('orders.currency', 'orders.value', 'contents.contents', 'orders.order_id', 'orders.num_items',
                            delivery_category, 'orders.store_id') }} as custom_data_text
    from orders
    inner join contents
        on contents.order_id = orders.order_id
    inner join customers
        on customers.amperity_id = orders.amperity_id
    {%- if limited_data_use() %}
    inner join {{ ref('int_customers__limited_data_use') }} as ldu
        on ldu.amperity_id = orders.amperity_id
    {%- endif %}
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
        delivery_category,
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
        data_processing_options,
        data_processing_options_country,
        data_processing_options_state,
        custom_data_text as custom_data_json,
        {{ user_data_text() }} as user_data_json
    from events

)

select * from final
{%- if materialization != 'view' %}
-- stored in cursor order, so a sync's range read on event_time skips older row groups
order by event_time, event_id
{%- endif %}
