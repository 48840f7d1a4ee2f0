{#- Fails on every row where the column is not greater than zero (NULL fails too). -#}
{% test is_positive(model, column_name) %}
select {{ column_name }}
from {{ model }}
where not coalesce({{ column_name }} > 0, false)
{% endtest %}
