-- Meta's Limited Data Use per customer (macro limited_data_use): ['LDU'] with country 1 and
-- state 1000 for a California resident (effective country US, state ca), ['LDU'] with 0 / 0
-- (Meta geolocates) for anyone else it applies to; an empty list and NULL / NULL otherwise.
-- Without the vars it applies to nobody (and offline_events does not join this model).
{%- set ldu = limited_data_use() %}
with customers as (

    select * from {{ ref('int_customers__normalized') }}

),

{%- if ldu and ldu.column %}

flags as (

    select amperity_id, limited_data_use from {{ ref('stg_amperity__customer_360') }}

),
{%- endif %}

applies as (

    select
        customers.amperity_id,
        coalesce(customers.effective_country = 'US' and customers.st = 'ca', false) as in_california,
        {%- if not ldu %}
        false
        {%- else %}
        (
            {%- if ldu.column %}
            {{ consent_value_in('flags.limited_data_use', ldu.listed) }}
            {%- else %}
            false
            {%- endif %}
            {%- if ldu.states %}
            or coalesce(customers.effective_country = 'US'
                        and customers.st in ({% for s in ldu.states %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %}), false)
            {%- endif %}
        )
        {%- endif %} as applies
    from customers
    {%- if ldu and ldu.column %}
    left join flags
        on flags.amperity_id = customers.amperity_id
    {%- endif %}

),

final as (

    select
        amperity_id,
        {{ ldu_options('applies') }} as data_processing_options,
        cast(case when applies then case when in_california then 1 else 0 end end as {{ type_bigint() }})
            as data_processing_options_country,
        cast(case when applies then case when in_california then 1000 else 0 end end as {{ type_bigint() }})
            as data_processing_options_state
    from applies

)

select * from final
