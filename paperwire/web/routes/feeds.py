"""Routes: feeds."""

from fastapi import APIRouter

router = APIRouter()
