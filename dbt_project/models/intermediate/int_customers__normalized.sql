-- Customer 360 with every customer information field normalized the way Meta asks
-- (before hashing), plus the effective country that drives the phone, state and zip
-- rules. The phone number is normalized separately (int_customers__phone_normalized).
--
-- Incremental on DuckDB: a build normalizes only the customers whose profile_fingerprint
-- (a hash of the raw profile) is new or changed, and replaces their rows.
{{ config(
    materialized=customer_model_materialization(),
    unique_key='amperity_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- set profile = ['email', 'phone', 'given_name', 'surname', 'birthdate', 'gender', 'city', 'state', 'postal', 'country'] %}
{#- Under var external_id_format as_given the format is part of the fingerprint: switching the
    var re-normalizes and re-hashes every customer on the next build (hashed leaves it as before). -#}
{%- set as_given = external_id_format() == 'as_given' %}
with profiles as (

    select
        *{% if as_given %},
        'as_given' as external_id_format{% endif %}
    from {{ ref('stg_amperity__customer_360') }}

),

fingerprinted as (

    select
        *,
        {{ profile_fingerprint(profile + (['external_id_format'] if as_given else [])) }} as profile_fingerprint
    from profiles

),

customers as (

    select * from fingerprinted
    where {{ changed_profiles('fingerprinted') }}

),

countries as (

    select lookup_key, alpha_2 from {{ ref('country_lookup') }}

),

states as (

    select country_alpha_2, lookup_key, state_code from {{ ref('state_lookup') }}

),

with_country as (

    select
        customers.*,
        countries.alpha_2 as country_alpha_2,
        coalesce(countries.alpha_2, upper({{ sql_string(var('default_country')) }})) as effective_country
    from customers
    left join countries
        on countries.lookup_key = {{ lookup_key('customers.country') }}

),

normalized as (

    select
        with_country.amperity_id,
        {{ normalize_external_id('with_country.amperity_id') }} as external_id,
        {{ normalize_email('with_country.email') }} as em,
        with_country.phone as phone_raw,
        {{ normalize_letters('with_country.given_name') }} as fn,
        {{ normalize_letters('with_country.surname') }} as ln,
        {{ normalize_birthdate('with_country.birthdate', as_of_timestamp()) }} as db,
        {{ normalize_gender('with_country.gender') }} as ge,
        {{ normalize_letters('with_country.city') }} as ct,
        case
            when with_country.effective_country in ('US', 'CA') then lower(states.state_code)
            else {{ normalize_letters('with_country.state') }}
        end as st,
        {{ normalize_zip('with_country.postal', 'with_country.effective_country') }} as zp,
        lower(with_country.country_alpha_2) as country,
        with_country.effective_country,
        with_country.profile_fingerprint
    from with_country
    left join states
        on states.country_alpha_2 = with_country.effective_country
       and states.lookup_key = {{ lookup_key('with_country.state') }}

)

select * from normalized
{{ customer_model_order() }}
