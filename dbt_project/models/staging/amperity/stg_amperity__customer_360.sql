-- One row per customer, as the CDP delivers it; plus, as text, the consent and opt-out
-- columns the vars name (macro consent_rules), under the rule's name, and the Limited Data
-- Use column (var limited_data_use_column) as limited_data_use.
select
    amperity_id,
    email,
    phone,
    given_name,
    surname,
    birthdate,
    gender,
    city,
    state,
    postal,
    country
    {%- for rule in consent_rules() %},
    cast({{ adapter.quote(rule.column) }} as {{ type_text() }}) as {{ rule.name }}
    {%- endfor %}
    {%- if limited_data_use() and limited_data_use().column %},
    cast({{ adapter.quote(limited_data_use().column) }} as {{ type_text() }}) as limited_data_use
    {%- endif %}
from {{ source('amperity', 'customer_360') }}
