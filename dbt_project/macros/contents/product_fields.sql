{#-
  The product fields each `contents` item carries besides id, quantity and item_price, in
  this order: title, brand, category, each only when its var (product_title_column,
  product_brand_column, product_category_column) names a column of
  unified_itemized_transactions (null = no such column: the field is absent from every
  item). Returns a list of {field, column}; staging reads the column as text under
  product_<field>.
-#}
{% macro product_fields() -%}
  {%- set fields = [] -%}
  {%- for field in ['title', 'brand', 'category'] -%}
    {%- set column = var('product_' ~ field ~ '_column', none) -%}
    {%- if column -%}
      {%- do fields.append({'field': field, 'column': column}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(fields) }}
{%- endmacro %}
