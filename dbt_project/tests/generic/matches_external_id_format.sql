{#- Fails on every non-null value that is not an external_id the sync sends under var
    external_id_format (macro external_id_pattern): a hash, or an id as given. -#}
{% test matches_external_id_format(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not {{ regexp_full_match(column_name, regex_literal(external_id_pattern())) }}
{% endtest %}
