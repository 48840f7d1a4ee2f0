-- Each customer's phone number in E.164 without the '+' (e.g. 16505551212), or NULL.
--
-- Follows libphonenumber's parse(number, region) step by step, with the customer's
-- effective country as the region and the phone_numbering_plans seed as its metadata:
--   1. the number starts at the first '+' or digit and ends before an extension
--      marker (any letter, '#', ';' or '~': "x123", "ext. 12", "#5");
--   2. '+', '00' or the region's international prefix (011 in the US, 010 in Japan)
--      is followed by a calling code: the first 1, 2 or 3 digits that are one
--      (ITU calling codes are prefix-free);
--   3. otherwise a number that starts with the region's calling code carries it when
--      the rest (trunk prefix stripped) fits the region's number pattern and the whole
--      does not, or the whole is too long (1-650-555-1212 in the US);
--   4. otherwise the region's calling code is added;
--   5. the national (trunk) prefix is stripped (020 7183 8750 -> 20 7183 8750) when the
--      rest still has a possible length for the numbering plan;
--   6. valid only with 9 to 15 digits in all.
-- The one deliberate difference from libphonenumber: '00' counts as an international
-- prefix in every region (libphonenumber only uses the region's own, e.g. 011 in the US).

--
-- Incremental on DuckDB: only the customers whose profile_fingerprint changed are parsed
-- again; int_customers__hashed takes a phone only when its fingerprint is the customer's.
{{ config(
    materialized=customer_model_materialization(),
    unique_key='amperity_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with customers as (

    select amperity_id, phone_raw, effective_country, profile_fingerprint
    from {{ ref('int_customers__normalized') }} as normalized
    where phone_raw is not null
      and {{ changed_profiles('normalized') }}

),

plans as (

    select * from {{ ref('phone_numbering_plans') }}

),

-- 1. the written number and its digits
written as (

    select
        amperity_id,
        effective_country,
        {{ regexp_extract_first('phone_raw', regex_literal('[+0-9][^\\p{L}#;~]*')) }} as number_text
    from customers

),

digits as (

    select
        amperity_id,
        effective_country,
        coalesce(starts_with(number_text, '+'), false) as has_plus,
        {{ regexp_replace_all('number_text', regex_literal('[^0-9]'), "''") }} as digits
    from written
    where number_text is not null

),

-- 2. the international prefix, if any
with_prefix as (

    select
        digits.*,
        region_plan.calling_code as region_calling_code,
        case
            when digits.has_plus then 0
            when {{ regexp_prefix_length('digits.digits', 'region_plan.international_prefix') }} > 0
             and substr(digits.digits, {{ regexp_prefix_length('digits.digits', 'region_plan.international_prefix') }} + 1, 1) <> '0'
                then {{ regexp_prefix_length('digits.digits', 'region_plan.international_prefix') }}
            when starts_with(digits.digits, '00') and substr(digits.digits, 3, 1) <> '0' then 2
        end as international_prefix_length
    from digits
    left join plans as region_plan
        on region_plan.region = digits.effective_country

),

international as (

    select
        with_prefix.*,
        substr(with_prefix.digits, coalesce(with_prefix.international_prefix_length, 0) + 1) as after_prefix
    from with_prefix

),

with_calling_code as (

    select
        international.*,
        case
            when international.has_plus or international.international_prefix_length is not null
                then coalesce(code_1.calling_code, code_2.calling_code, code_3.calling_code)
        end as written_calling_code,
        -- 3. the rest of a number that starts with the region's own calling code
        case
            when not international.has_plus
             and international.international_prefix_length is null
             and starts_with(international.digits, international.region_calling_code)
                then substr(international.digits, length(international.region_calling_code) + 1)
        end as after_region_code
    from international
    left join plans as code_1
        on code_1.is_main_region_for_code and code_1.calling_code = substr(international.after_prefix, 1, 1)
    left join plans as code_2
        on code_2.is_main_region_for_code and code_2.calling_code = substr(international.after_prefix, 1, 2)
    left join plans as code_3
        on code_3.is_main_region_for_code and code_3.calling_code = substr(international.after_prefix, 1, 3)

),

with_region_rest as (

    select
        with_calling_code.*,
        {{ phone_strip_national_prefix('with_calling_code.after_region_code', 'region_plan') }} as region_rest,
        {{ phone_matches_plan('with_calling_code.digits', 'region_plan') }} as whole_matches_region,
        {{ phone_length_class('with_calling_code.digits', 'region_plan') }} as whole_length_class
    from with_calling_code
    left join plans as region_plan
        on region_plan.region = with_calling_code.effective_country

),

with_national_number as (

    select
        with_region_rest.amperity_id,
        with_region_rest.effective_country,
        case
            when with_region_rest.has_plus or with_region_rest.international_prefix_length is not null
                then with_region_rest.written_calling_code
            else with_region_rest.region_calling_code
        end as calling_code,
        case
            when with_region_rest.has_plus or with_region_rest.international_prefix_length is not null
                then 'written'
            when with_region_rest.after_region_code is not null
             and ((not with_region_rest.whole_matches_region
                   and {{ phone_matches_plan('with_region_rest.region_rest', 'region_plan') }})
                  or with_region_rest.whole_length_class = 'too_long')
                then 'carried'
            else 'added'
        end as calling_code_source,
        with_region_rest.after_prefix,
        with_region_rest.region_rest,
        with_region_rest.digits
    from with_region_rest
    left join plans as region_plan
        on region_plan.region = with_region_rest.effective_country

),

-- the numbering plan of the result: the region's own when its calling code was added,
-- else the main region of the calling code (libphonenumber: US for +1, even in Canada)
with_plan_region as (

    select
        with_national_number.amperity_id,
        with_national_number.calling_code,
        case with_national_number.calling_code_source
            when 'written' then substr(with_national_number.after_prefix, length(with_national_number.calling_code) + 1)
            when 'carried' then with_national_number.region_rest
            else with_national_number.digits
        end as national_number,
        case
            when with_national_number.calling_code_source = 'added' then with_national_number.effective_country
            else main_plan.region
        end as plan_region
    from with_national_number
    left join plans as main_plan
        on main_plan.is_main_region_for_code
       and main_plan.calling_code = with_national_number.calling_code

),

-- 5. strip the trunk prefix under the plan of the result
with_plan as (

    select
        with_plan_region.amperity_id,
        with_plan_region.calling_code,
        with_plan_region.national_number,
        {{ phone_strip_national_prefix('with_plan_region.national_number', 'number_plan') }} as stripped_number,
        number_plan.min_length,
        number_plan.max_length,
        number_plan.possible_lengths,
        number_plan.local_only_lengths
    from with_plan_region
    inner join plans as number_plan
        on number_plan.region = with_plan_region.plan_region
       and number_plan.calling_code = with_plan_region.calling_code
    where length(with_plan_region.national_number) >= 2

),

e164 as (

    select
        amperity_id,
        calling_code || case
            when {{ phone_length_class('stripped_number', 'with_plan') }} in ('too_short', 'local_only', 'invalid')
                then national_number
            else stripped_number
        end as phone_number
    from with_plan

)

-- 6. 9 to 15 digits
select
    customers.amperity_id,
    case when length(e164.phone_number) between 9 and 15 then e164.phone_number end as ph,
    customers.profile_fingerprint
from customers
left join e164
    on e164.amperity_id = customers.amperity_id
{{ customer_model_order() }}
