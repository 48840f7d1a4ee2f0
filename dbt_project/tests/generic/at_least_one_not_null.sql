{#- Fails on every row where all of `columns` are NULL. -#}
{% test at_least_one_not_null(model, columns) %}
select *
from {{ model }}
where {% for column in columns %}{{ column }} is null{{ " and " if not loop.last }}{% endfor %}
{% endtest %}
