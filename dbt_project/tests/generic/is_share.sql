{#- Fails on every row where the column is not a share between 0 and 1 (NULL fails too). -#}
{% test is_share(model, column_name) %}
select {{ column_name }}
from {{ model }}
where not coalesce({{ column_name }} >= 0 and {{ column_name }} <= 1, false)
{% endtest %}
