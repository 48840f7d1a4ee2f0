-- One row per purchased item, as the CDP delivers it (renamed only where unclear).
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
from {{ source('amperity', 'unified_itemized_transactions') }}
