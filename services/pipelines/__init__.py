

def camel_case(name: str) -> str:
    """An input field's GraphQL name ("records_path" -> "recordsPath"), for messages that name it."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
