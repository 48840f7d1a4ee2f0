{#-
  The consent and opt-out rules the vars configure, in the order a customer's exclusion
  reason is named (docs/warehouse.md, Consent and opt-out). Each rule names an optional
  Customer 360 column (var <rule>_column; null = the table has no such column, the rule is
  off) and the values, compared trimmed and case-insensitively on the column cast to text,
  that decide it (var <rule>_values):
    deletion_requested     the customer asked for deletion: excluded when the value is listed
    do_not_sell_or_share   opted out of the sale/sharing of data: excluded when listed
    marketing_consent      excluded unless the value is listed (NULL is no consent)
  Returns a list of {name, column, listed, excludes_when_listed}; empty when no var is set.
-#}
{% macro consent_rules() -%}
  {%- set rules = [] -%}
  {%- for name, excludes_when_listed in [('deletion_requested', true), ('do_not_sell_or_share', true),
                                          ('marketing_consent', false)] -%}
    {%- set column = var(name ~ '_column', none) -%}
    {%- if column -%}
      {%- set values = var(name ~ '_values') -%}
      {%- if values is string or values | length == 0 -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ "_values must be a non-empty list of values, got " ~ values) }}
      {%- endif -%}
      {%- do rules.append({'name': name, 'column': column, 'listed': values,
                           'excludes_when_listed': excludes_when_listed}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(rules) }}
{%- endmacro %}

{#- SQL: TRUE when `expression` (text), trimmed and lowercased, is one of `values`. -#}
{% macro consent_value_in(expression, values) -%}
  coalesce(lower(trim({{ expression }})) in ({% for v in values %}{{ sql_string(v | string | lower | trim) }}{{ ", " if not loop.last }}{% endfor %}), false)
{%- endmacro %}
