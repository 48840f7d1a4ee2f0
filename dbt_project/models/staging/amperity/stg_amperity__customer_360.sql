-- One row per customer, as the CDP delivers it; plus, as text, the consent and opt-out
-- columns the vars name (macro consent_rules), under the rule's name.
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
from {{ source('amperity', 'customer_360') }}
