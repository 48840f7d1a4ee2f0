-- One row per customer, as the CDP delivers it.
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
from {{ source('amperity', 'customer_360') }}
