{#-
  Building blocks of the libphonenumber parsing steps, driven by the phone_numbering_plans
  seed. `plan` is the alias of a joined phone_numbering_plans row.
-#}

{#- libphonenumber's length test of a national number against a plan:
    'local_only', 'possible', 'too_short', 'too_long' or 'invalid'. -#}
{% macro phone_length_class(number, plan) -%}
  case
    when strpos('|' || coalesce({{ plan }}.local_only_lengths, '') || '|',
                '|' || cast(length({{ number }}) as {{ type_text() }}) || '|') > 0 then 'local_only'
    when length({{ number }}) = {{ plan }}.min_length then 'possible'
    when length({{ number }}) < {{ plan }}.min_length then 'too_short'
    when length({{ number }}) > {{ plan }}.max_length then 'too_long'
    when strpos('|' || {{ plan }}.possible_lengths || '|',
                '|' || cast(length({{ number }}) as {{ type_text() }}) || '|') > 0 then 'possible'
    else 'invalid'
  end
{%- endmacro %}


{#- True when the national number matches the plan's general number pattern. -#}
{% macro phone_matches_plan(number, plan) -%}
  coalesce({{ regexp_full_match(number, plan ~ '.national_number_pattern') }}, false)
{%- endmacro %}


{#- Strip the plan's national (trunk) prefix from a national number, unless the number
    was viable with it and is not without it (libphonenumber's rule). -#}
{% macro phone_strip_national_prefix(number, plan) -%}
  {%- set prefix_length = "coalesce(" ~ regexp_prefix_length(number, plan ~ '.national_prefix_pattern') ~ ", 0)" -%}
  case
    when {{ prefix_length }} > 0
     and not ({{ phone_matches_plan(number, plan) }}
              and not {{ phone_matches_plan("substr(" ~ number ~ ", " ~ prefix_length ~ " + 1)", plan) }})
      then substr({{ number }}, {{ prefix_length }} + 1)
    else {{ number }}
  end
{%- endmacro %}
