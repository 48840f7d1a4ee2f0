{#-
  Normalization rules for Meta's customer information parameters, as SQL expressions.
  Each returns the normalized text, or NULL when the raw value is missing or invalid.
  Hashing happens later (int_customers__hashed). See docs/warehouse.md.
-#}

{#- Strip leading and trailing whitespace (tabs and newlines too, not only spaces). -#}
{% macro trim_whitespace(expression) -%}
  {{ regexp_replace_all(expression, regex_literal('^\\s+|\\s+$'), "''") }}
{%- endmacro %}


{#- em: trimmed, lowercase, and shaped like local@domain.tld with no whitespace. -#}
{% macro normalize_email(expression) -%}
  {%- set cleaned = "lower(" ~ trim_whitespace(expression) ~ ")" -%}
  case
    when {{ regexp_full_match(cleaned, regex_literal('[^@\\s]+@[^@\\s]+\\.[^@\\s]+')) }}
      then {{ cleaned }}
  end
{%- endmacro %}


{#- fn, ln, ct (and st outside the US and Canada): NFC, lowercase, letters only in any
    script (combining marks kept, so Devanagari or Thai names survive). -#}
{% macro normalize_letters(expression) -%}
  nullif({{ regexp_replace_all("lower(" ~ nfc(expression) ~ ")", regex_literal('[^\\p{L}\\p{M}]'), "''") }}, '')
{%- endmacro %}


{#- ge: 'f' or 'm' from f/female/m/male in any case. -#}
{% macro normalize_gender(expression) -%}
  case lower({{ trim_whitespace(expression) }})
    when 'f' then 'f'
    when 'female' then 'f'
    when 'm' then 'm'
    when 'male' then 'm'
  end
{%- endmacro %}


{#- db: YYYYMMDD when the year is between 1900 and the year of `as_of`. -#}
{% macro normalize_birthdate(date_expression, as_of_expression) -%}
  case
    when extract(year from {{ date_expression }}) between 1900 and extract(year from cast({{ as_of_expression }} as date))
      then {{ format_date_yyyymmdd(date_expression) }}
  end
{%- endmacro %}


{#- zp: lowercase without whitespace or dashes; in the US the first five digits (a US
    value that does not start with five digits is invalid). -#}
{% macro normalize_zip(expression, country_expression) -%}
  {%- set cleaned = "nullif(" ~ regexp_replace_all("lower(" ~ expression ~ ")", regex_literal('[\\s-]'), "''") ~ ", '')" -%}
  case
    when {{ country_expression }} = 'US'
      then {{ regexp_extract_first(cleaned, regex_literal('^[0-9]{5}')) }}
    else {{ cleaned }}
  end
{%- endmacro %}


{#- The key the country and state seeds are looked up by: NFC, lowercase, periods
    dropped, whitespace runs collapsed to one space, trimmed (scripts/generate_reference_seeds.py
    builds the seed keys with the same rule). -#}
{% macro lookup_key(expression) -%}
  trim({{ regexp_replace_all(
        regexp_replace_all("lower(" ~ nfc(expression) ~ ")", regex_literal('\\.'), "''"),
        regex_literal('\\s+'), "' '") }})
{%- endmacro %}


{#- Order line currency: upper-case ISO 4217 code; `default` when missing or blank;
    NULL when the raw value is not three letters. -#}
{% macro normalize_currency(expression, default) -%}
  case
    when {{ expression }} is null or {{ trim_whitespace(expression) }} = '' then '{{ default | upper }}'
    when {{ regexp_full_match(trim_whitespace(expression), regex_literal('[A-Za-z]{3}')) }}
      then upper({{ trim_whitespace(expression) }})
  end
{%- endmacro %}


{#- external_id: the customer key, trimmed and lowercased (to be hashed); under var
    external_id_format as_given trimmed only, sent as it is. NULL when blank. -#}
{% macro normalize_external_id(expression) -%}
  {%- if external_id_format() == 'as_given' -%}
  nullif({{ trim_whitespace(expression) }}, '')
  {%- else -%}
  nullif(lower({{ trim_whitespace(expression) }}), '')
  {%- endif -%}
{%- endmacro %}
