{#-
  How external_id is sent (var external_id_format, docs/warehouse.md): 'hashed' (the default:
  the SHA-256 of the customer key trimmed and lowercased, like every other identifier) or
  'as_given' (the customer key trimmed, unhashed, the way the advertiser's other channels
  send it). Anything else stops the build, one line naming the var.
-#}
{% macro external_id_format() -%}
  {%- set format = var('external_id_format', 'hashed') -%}
  {%- if format not in ['hashed', 'as_given'] -%}
    {{ exceptions.raise_compiler_error("var external_id_format must be 'hashed' or 'as_given', got '" ~ format ~ "'") }}
  {%- endif -%}
  {{ return(format) }}
{%- endmacro %}


{#- The values of external_id the sync sends (RE2, matched against the whole value): 64 lowercase
    hex under 'hashed'; under 'as_given' what the sync's source.external_id: as_given accepts
    (sync/sources/user_data_check.py AS_GIVEN_VALUE): 1 to 256 characters, none a quote,
    backslash, control character or U+FFFD. -#}
{% macro external_id_pattern() -%}
  {%- if external_id_format() == 'as_given' -%}
    {{ return('[^"\\\\\\x00-\\x1f\\x7f\\x{fffd}]{1,256}') }}
  {%- endif -%}
  {{ return('[0-9a-f]{64}') }}
{%- endmacro %}
