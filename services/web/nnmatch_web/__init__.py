"""web: server-rendered pages for members, hubs and operators, over the services' HTTP APIs."""
