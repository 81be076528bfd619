"""HTTP plumbing shared by every feature's router, below the features: who is
calling (`auth`: the `Authorized` dependency), the request body (`body`), path and
query parameters (`params`), the render context of a request (`rendering`), the
JSON error body and its handlers (`errors`) and the published document
(`openapi`). Routers import these, never another router."""
