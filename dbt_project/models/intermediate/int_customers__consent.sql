-- Each customer's reason not to be sent, by the consent and opt-out rules the vars configure
-- (macro consent_rules): the first of deletion_requested, do_not_sell_or_share,
-- no_marketing_consent that applies; NULL = the customer may be sent. Without any rule
-- configured every reason is NULL (and offline_events does not join this model).
{%- set rules = consent_rules() %}
with customers as (

    select * from {{ ref('stg_amperity__customer_360') }}

),

consent as (

    select
        amperity_id,
        {%- if rules %}
        case
            {%- for rule in rules %}
            {%- if rule.excludes_when_listed %}
            when {{ consent_value_in(rule.name, rule.listed) }} then '{{ rule.name }}'
            {%- else %}
            when not {{ consent_value_in(rule.name, rule.listed) }} then 'no_{{ rule.name }}'
            {%- endif %}
            {%- endfor %}
        end as exclusion_reason
        {%- else %}
        cast(null as {{ type_text() }}) as exclusion_reason
        {%- endif %}
    from customers

)

select * from consent
