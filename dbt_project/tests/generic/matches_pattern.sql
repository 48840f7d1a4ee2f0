{#- Fails on every non-null value that does not match `pattern` as a whole. -#}
{% test matches_pattern(model, column_name, pattern) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not {{ regexp_full_match(column_name, regex_literal(pattern)) }}
{% endtest %}
