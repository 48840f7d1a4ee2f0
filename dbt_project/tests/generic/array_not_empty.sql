{#- Fails on every row whose array column is NULL or has no element. -#}
{% test array_not_empty(model, column_name) %}
select {{ column_name }}
from {{ model }}
where coalesce({{ array_length(column_name) }}, 0) = 0
{% endtest %}
