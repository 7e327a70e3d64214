"""Print the SDL: `python -m schema.export > schema.graphql`."""

from schema.root import create_schema

if __name__ == "__main__":
    print(create_schema().as_str())
