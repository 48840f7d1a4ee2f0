-- Each customer's identifiers as Meta wants them: lowercase hex SHA-256 of the
-- normalized value, NULL when the value is missing or invalid. Raw personal data
-- stops here; nothing downstream sees it. external_id, the customer key, is hashed too unless
-- var external_id_format is as_given: then it is the trimmed key as it is (not hashed).
--
-- Stored, not a view: normalizing (above all parsing phone numbers) is the expensive part
-- and customers change slowly. Incremental on DuckDB: a build hashes only the customers
-- whose profile_fingerprint changed (docs/warehouse.md); a table on BigQuery.
{{ config(
    materialized=customer_model_materialization(),
    unique_key='amperity_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
with customers as (

    select * from {{ ref('int_customers__normalized') }} as normalized
    where {{ changed_profiles('normalized') }}

),

phones as (

    select * from {{ ref('int_customers__phone_normalized') }}

),

hashed as (

    select
        customers.amperity_id,
        {{ sha256_hex('customers.em') }} as em,
        {{ sha256_hex('phones.ph') }} as ph,
        {{ sha256_hex('customers.fn') }} as fn,
        {{ sha256_hex('customers.ln') }} as ln,
        {{ sha256_hex('customers.db') }} as db,
        {{ sha256_hex('customers.ge') }} as ge,
        {{ sha256_hex('customers.ct') }} as ct,
        {{ sha256_hex('customers.st') }} as st,
        {{ sha256_hex('customers.zp') }} as zp,
        {{ sha256_hex('customers.country') }} as country,
        {{ 'customers.external_id' if external_id_format() == 'as_given' else sha256_hex('customers.external_id') }} as external_id,
        customers.profile_fingerprint
    from customers
    left join phones
        on phones.amperity_id = customers.amperity_id
       and phones.profile_fingerprint = customers.profile_fingerprint

)

select * from hashed
{{ customer_model_order() }}
