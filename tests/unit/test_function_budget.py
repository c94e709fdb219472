"""`make lint`'s length budget reads functions, methods and nested functions alike."""

from devtools.function_budget import long_functions


def function(name: str, body_lines: int, indent: str = "") -> str:
    body = "".join(f"{indent}    x = {n}\n" for n in range(body_lines))
    return f"{indent}def {name}():\n{body}"


def test_a_function_of_forty_lines_is_within_the_budget_and_forty_one_is_not():
    source = function("fits", 39) + function("too_long", 40)
    assert long_functions(source) == {"too_long": 41}


def test_methods_and_decorators_count():
    source = "class Store:\n    @staticmethod\n" + function("query", 39, indent="    ")
    assert long_functions(source) == {"Store.query": 41}
