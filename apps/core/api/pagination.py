from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination: stable and constant-cost on large tables, unlike OFFSET."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-pk"  # every model, whatever its primary key is called
