-- One row per purchased item, as the CDP delivers it (renamed only where unclear); plus, as
-- text, the product columns the vars name (macro product_fields), as product_<field>.
select
    amperity_id,
    order_id,
    product_id,
    item_quantity,
    item_revenue,
    order_datetime,
    currency,
    purchase_channel,
    purchase_brand,
    store_id,
    is_return,
    is_cancellation
    {%- for product in product_fields() %},
    cast({{ adapter.quote(product.column) }} as {{ type_text() }}) as product_{{ product.field }}
    {%- endfor %}
from {{ source('amperity', 'unified_itemized_transactions') }}
