{#- The moment the view is evaluated at: var as_of ('YYYY-MM-DD HH:MM:SS', UTC) when set,
    else the current timestamp at query time. -#}
{% macro as_of_timestamp() -%}
  {%- set as_of = var('as_of', none) -%}
  {%- if as_of is none or (as_of | string | trim) in ('', 'None', 'null') -%}
    {{ current_timestamp_utc() }}
  {%- else -%}
    {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2}:\\d{2}(\\.\\d+)?)?$', as_of | string) -%}
      {{ exceptions.raise_compiler_error("var as_of must be 'YYYY-MM-DD HH:MM:SS' (UTC), got '" ~ as_of ~ "'") }}
    {%- endif -%}
    {{ timestamp_literal(as_of | string) }}
  {%- endif -%}
{%- endmacro %}


{#- A list var (purchase_channels, purchase_brands) as lowercase, trimmed strings; fails
    with a clear message when the var is not a list. -#}
{% macro list_var(name) -%}
  {%- set value = var(name, []) -%}
  {%- if value is none -%}{%- set value = [] -%}{%- endif -%}
  {%- if value is string or value is mapping or value is not iterable -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a list, e.g. --vars '{" ~ name ~ ": [a, b]}', got " ~ value) }}
  {%- endif -%}
  {%- set items = [] -%}
  {%- for item in value -%}
    {%- do items.append(item | string | trim | lower) -%}
  {%- endfor -%}
  {{ return(items) }}
{%- endmacro %}


{#- A SQL string literal. -#}
{% macro sql_string(value) -%}
  '{{ value | string | replace("'", "''") }}'
{%- endmacro %}
