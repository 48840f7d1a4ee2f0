{#-
  Regular expressions. Patterns are RE2 on both DuckDB and BigQuery; `pattern` is a SQL
  expression (a quoted literal or a column), so the same macro serves the seed-driven
  phone patterns.
-#}

{#- Replace every match (DuckDB's regexp_replace replaces only the first without 'g'). -#}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
  {{ return(adapter.dispatch('regexp_replace_all', 'capi_offline_events')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
  regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro bigquery__regexp_replace_all(expression, pattern, replacement) -%}
  regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}


{#- True when the whole string matches the pattern. -#}
{% macro regexp_full_match(expression, pattern) -%}
  {{ return(adapter.dispatch('regexp_full_match', 'capi_offline_events')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_full_match(expression, pattern) -%}
  regexp_full_match({{ expression }}, {{ pattern }})
{%- endmacro %}

{% macro bigquery__regexp_full_match(expression, pattern) -%}
  regexp_contains({{ expression }}, concat('^(?:', {{ pattern }}, ')$'))
{%- endmacro %}


{#- True when the pattern matches anywhere in the string. -#}
{% macro regexp_contains(expression, pattern) -%}
  {{ return(adapter.dispatch('regexp_contains', 'capi_offline_events')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_contains(expression, pattern) -%}
  regexp_matches({{ expression }}, {{ pattern }})
{%- endmacro %}

{% macro bigquery__regexp_contains(expression, pattern) -%}
  regexp_contains({{ expression }}, {{ pattern }})
{%- endmacro %}


{#- The first (leftmost) match of a pattern without capturing groups; NULL when none. -#}
{% macro regexp_extract_first(expression, pattern) -%}
  {{ return(adapter.dispatch('regexp_extract_first', 'capi_offline_events')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_extract_first(expression, pattern) -%}
  case when regexp_matches({{ expression }}, {{ pattern }}) then regexp_extract({{ expression }}, {{ pattern }}) end
{%- endmacro %}

{#- regexp_replace instead of regexp_extract: the same result on BigQuery, and the local
    emulator checks regexp_extract patterns with Python's `re` (no \p{L}, no column patterns). -#}
{% macro bigquery__regexp_extract_first(expression, pattern) -%}
  case when regexp_contains({{ expression }}, {{ pattern }})
    then regexp_replace({{ expression }}, concat('(?s)^.*?(', {{ pattern }}, ').*$'), r'\1') end
{%- endmacro %}


{#- Length of the match of `pattern` anchored at the start of the string; 0 when none. -#}
{% macro regexp_prefix_length(expression, pattern) -%}
  {{ return(adapter.dispatch('regexp_prefix_length', 'capi_offline_events')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_prefix_length(expression, pattern) -%}
  length(regexp_extract({{ expression }}, '^(?:' || {{ pattern }} || ')'))
{%- endmacro %}

{#- What removing the anchored match takes off (the pattern comes from a seed column). -#}
{% macro bigquery__regexp_prefix_length(expression, pattern) -%}
  coalesce(length({{ expression }}) - length(regexp_replace({{ expression }}, concat('^(?:', {{ pattern }}, ')'), '')), 0)
{%- endmacro %}
